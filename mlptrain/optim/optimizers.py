"""Optimizers that update ONE flat parameter vector in place.

Common protocol (PyTorch semantics for every rule)::

    opt = OPTIMIZERS["adam"](betas=(0.9, 0.999), weight_decay=1e-4, decay_mask=net.decay_mask)
    opt.step(net.params, net.grads, lr)     # params updated in place; grads are not modified
    state = opt.state_dict()                # {"arrays": {name: 1-D array}, "scalars": {...}}
    opt.load_state_dict(state)              # exact restore; strict about keys, shapes, dtypes

``lr`` is passed at every step (it comes from the schedule). State buffers are allocated on the
first step with the parameters' size and dtype and reused (``out=``), so a step allocates
nothing. ``weight_decay`` applies only where ``decay_mask`` is 1 (dense weights; biases and
batch-norm parameters have 0); ``decay_mask=None`` decays every entry. Every ``FLUSH_EVERY``
steps, state entries with ``|v| < finfo(dtype).tiny`` are set to 0: momentum buffers of rarely
active inputs otherwise decay into subnormals, which make every later op ~2x slower.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlptrain.registry import Param, Registry

FLUSH_EVERY = 256

OPTIMIZERS: Registry[Optimizer] = Registry(
    "optimizer",
    common=[Param("weight_decay", "L2 penalty on weights (biases and batch-norm parameters "
                  "excluded); decoupled for adamw.", ge=0.0)],
    shared=[
        Param("momentum", "momentum (0 disables).", ge=0.0, lt=1.0),
        Param("eps", "denominator epsilon.", gt=0.0),
    ],
)
"""Every optimizer by name; `register` adds one (see mlptrain/registry.py)."""


class Optimizer:
    """Base class: buffers, decay, flushing and state save/restore."""

    name = "optimizer"
    _buffers: tuple[str, ...] = ()  # names of the per-parameter state arrays
    state_slots = 2  # the most per-parameter state arrays it keeps (memory estimates)

    @classmethod
    def memory_slots(cls, **params: Any) -> int:
        """Per-parameter state arrays an instance built with `params` keeps (memory estimates)."""
        return cls.state_slots

    def __init__(self, weight_decay: float = 0.0, decay_mask: np.ndarray | None = None):
        if not float(weight_decay) >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.decay_mask = decay_mask
        self.t = 0  # number of steps taken
        self.state: dict[str, np.ndarray] = {}
        self._tmp: np.ndarray | None = None

    def _prepare(self, params: np.ndarray, grads: np.ndarray) -> None:
        if params.ndim != 1 or grads.shape != params.shape or grads.dtype != params.dtype:
            raise ValueError(
                f"params and grads must be 1-D arrays of one shape and dtype, got "
                f"{params.shape}/{params.dtype} and {grads.shape}/{grads.dtype}"
            )
        if self._tmp is None or self._tmp.shape != params.shape or self._tmp.dtype != params.dtype:
            if self.state and next(iter(self.state.values())).shape != params.shape:
                raise ValueError(f"optimizer state is for {next(iter(self.state.values())).size} "
                                 f"parameters, got {params.size}")
            self._tmp = np.empty_like(params)
            self._tmp2 = np.empty_like(params)
            for k in self._buffers:
                if k not in self.state:
                    self.state[k] = np.zeros_like(params)
                elif self.state[k].dtype != params.dtype:
                    raise ValueError(f"optimizer state {k!r} has dtype {self.state[k].dtype}, "
                                     f"parameters have {params.dtype}")
        if self.decay_mask is not None and self.decay_mask.shape != params.shape:
            raise ValueError(f"decay_mask has shape {self.decay_mask.shape}, params {params.shape}")

    def _scratch(self) -> np.ndarray:
        """The work buffer that `_prepare` allocated for this step."""
        assert self._tmp is not None
        return self._tmp

    def _decayed_grad(self, params, grads) -> np.ndarray:
        """``g = grads + weight_decay * mask * params`` (coupled L2), in a scratch buffer."""
        if self.weight_decay == 0.0:
            return grads
        g = self._tmp2
        if self.decay_mask is None:
            np.multiply(params, self.weight_decay, out=g)
        else:
            np.multiply(params, self.decay_mask, out=g)
            g *= self.weight_decay
        g += grads
        return g

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        """One update of ``params`` in place."""
        self._prepare(params, grads)
        self.t += 1
        self._update(params, grads, float(lr))
        if self.t % FLUSH_EVERY == 0:
            self._flush_subnormals()

    def _update(self, params, grads, lr):
        raise NotImplementedError

    def _flush_subnormals(self) -> None:
        for buf in self.state.values():
            tiny = np.finfo(buf.dtype).tiny
            np.copyto(buf, 0, where=np.abs(buf) < tiny)

    def _scalars(self) -> dict:
        return {"t": self.t}

    def _load_scalars(self, s: dict) -> None:
        self.t = int(s["t"])

    def state_dict(self) -> dict:
        """``{"arrays": {name: copy}, "scalars": {"name": ..., "t": ...}}``."""
        return {"arrays": {k: v.copy() for k, v in self.state.items()},
                "scalars": {"name": self.name, **self._scalars()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore exactly what ``state_dict`` returned; ValueError on any mismatch."""
        if not isinstance(state, dict) or set(state) != {"arrays", "scalars"}:
            raise ValueError("optimizer state must be a dict with keys 'arrays' and 'scalars'")
        arrays, scalars = state["arrays"], state["scalars"]
        if scalars.get("name") != self.name:
            raise ValueError(f"optimizer state is for {scalars.get('name')!r}, not {self.name!r}")
        want = set(self._scalars()) | {"name"}
        if set(scalars) != want:
            raise ValueError(f"optimizer scalars must have keys {sorted(want)}, got {sorted(scalars)}")
        expected = set(self._buffers) if arrays else set()
        if set(arrays) != expected:
            raise ValueError(f"optimizer arrays must have keys {sorted(self._buffers)}, got {sorted(arrays)}")
        shapes = {np.shape(a) for a in arrays.values()}
        dtypes = {np.asarray(a).dtype for a in arrays.values()}
        if len(shapes) > 1 or any(len(s) != 1 for s in shapes):
            raise ValueError(f"optimizer arrays must be 1-D of one shape, got {sorted(shapes)}")
        if len(dtypes) > 1 or any(d not in (np.float32, np.float64) for d in dtypes):
            raise ValueError(f"optimizer arrays must share a float dtype, got {sorted(map(str, dtypes))}")
        for k, a in arrays.items():
            own = self.state.get(k)
            if own is not None and (own.shape != a.shape or own.dtype != a.dtype):
                raise ValueError(f"optimizer array {k!r} is {a.shape}/{a.dtype}, expected "
                                 f"{own.shape}/{own.dtype}")
        if arrays and self._tmp is not None and (
            self._tmp.shape != next(iter(arrays.values())).shape
            or self._tmp.dtype != next(iter(arrays.values())).dtype
        ):
            raise ValueError("optimizer state does not match the parameters")
        self.state = {k: np.array(a, copy=True) for k, a in arrays.items()}
        if not arrays:
            self._tmp = None  # reallocate zeroed buffers at the next step
        self._load_scalars(scalars)


@OPTIMIZERS.register("sgd", params=("momentum", Param("nesterov", "Nesterov momentum.")),
                     summary="sgd (with momentum / Nesterov)", pytorch={"momentum": 0.0})
class SGD(Optimizer):
    """Stochastic gradient descent with momentum / Nesterov (PyTorch ``SGD``)::

        g = grad + weight_decay * mask * p
        if momentum:
            buf = g if t == 1 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g
    """

    name = "sgd"
    state_slots = 1  # momentum_buffer

    def __init__(self, momentum: float = 0.9, nesterov: bool = False, dampening: float = 0.0,
                 weight_decay: float = 0.0, decay_mask: np.ndarray | None = None):
        super().__init__(weight_decay, decay_mask)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        self.momentum, self.nesterov, self.dampening = float(momentum), bool(nesterov), float(dampening)
        self._buffers = ("momentum_buffer",) if self.momentum > 0 else ()

    def _update(self, p, grads, lr):
        # Each line below is one pass over the flat vector (memory-bound at MLP sizes), so
        # the rule is written with as few passes as it needs: 4 for plain momentum.
        g = self._decayed_grad(p, grads)
        if self.momentum > 0:
            buf = self.state["momentum_buffer"]
            if self.t == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                if self.dampening:
                    np.multiply(g, 1.0 - self.dampening, out=self._tmp)
                    buf += self._tmp
                else:
                    buf += g
            if self.nesterov:
                np.multiply(buf, self.momentum, out=self._tmp)
                self._tmp += g
                g = self._tmp
            else:
                g = buf
        np.multiply(g, lr, out=self._tmp)
        p -= self._tmp


_BETAS = Param("betas", "moment decay rates (beta1, beta2).", annotation=tuple[float, float],
                ge=0.0, lt=1.0)


@OPTIMIZERS.register("adam", params=(_BETAS, "eps"))
class Adam(Optimizer):
    """Adam (PyTorch ``Adam``, coupled L2 decay)::

        g = grad + weight_decay * mask * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    """

    name = "adam"
    _buffers = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay_mask: np.ndarray | None = None):
        super().__init__(weight_decay, decay_mask)
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.betas, self.eps = (b1, b2), float(eps)

    def _update(self, p, grads, lr):
        b1, b2 = self.betas
        if self._decoupled:
            g = grads
            if self.weight_decay:  # p *= 1 - lr * weight_decay * mask
                t = self._scratch()
                np.multiply(p, lr * self.weight_decay, out=t)
                if self.decay_mask is not None:
                    t *= self.decay_mask
                p -= t
        else:
            g = self._decayed_grad(p, grads)
        m, v, t = self.state["exp_avg"], self.state["exp_avg_sq"], self._scratch()
        m *= b1
        np.multiply(g, 1.0 - b1, out=t)
        m += t
        v *= b2
        np.multiply(g, g, out=t)
        t *= 1.0 - b2
        v += t
        np.sqrt(v, out=t)
        t *= 1.0 / math.sqrt(1.0 - b2**self.t)
        t += self.eps
        np.divide(m, t, out=t)
        t *= lr / (1.0 - b1**self.t)
        p -= t


@OPTIMIZERS.register("adamw", params=(_BETAS, "eps"), pytorch={"weight_decay": 0.01})
class AdamW(Adam):
    """AdamW (PyTorch ``AdamW``), decay decoupled from the gradient::

        p *= 1 - lr * weight_decay * mask
        m = b1 * m + (1 - b1) * grad;  v = b2 * v + (1 - b2) * grad * grad
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    """

    name = "adamw"
    _decoupled = True

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay_mask: np.ndarray | None = None):
        super().__init__(betas, eps, weight_decay, decay_mask)


@OPTIMIZERS.register("rmsprop", params=(Param("alpha", "smoothing constant.", gt=0.0, lt=1.0),
                                         "eps", "momentum"), pytorch={"momentum": 0.0})
class RMSprop(Optimizer):
    """RMSprop (PyTorch ``RMSprop``, not centered)::

        g = grad + weight_decay * mask * p
        v = alpha * v + (1 - alpha) * g * g
        if momentum: buf = momentum * buf + g / (sqrt(v) + eps);  p -= lr * buf
        else:        p -= lr * g / (sqrt(v) + eps)
    """

    name = "rmsprop"

    def __init__(self, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.9,
                 weight_decay: float = 0.0, decay_mask: np.ndarray | None = None):
        super().__init__(weight_decay, decay_mask)
        if not 0.0 <= float(alpha) < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.alpha, self.eps, self.momentum = float(alpha), float(eps), float(momentum)
        self._buffers = ("square_avg", "momentum_buffer") if self.momentum > 0 else ("square_avg",)

    def _update(self, p, grads, lr):
        g = self._decayed_grad(p, grads)
        v, t = self.state["square_avg"], self._scratch()
        v *= self.alpha
        np.multiply(g, g, out=t)
        t *= 1.0 - self.alpha
        v += t
        np.sqrt(v, out=t)
        t += self.eps
        np.divide(g, t, out=t)
        if self.momentum > 0:
            buf = self.state["momentum_buffer"]
            buf *= self.momentum
            buf += t
            np.multiply(buf, lr, out=t)
        else:
            t *= lr
        p -= t


@OPTIMIZERS.register("adagrad", params=("eps",), pytorch={"eps": 1e-10})
class Adagrad(Optimizer):
    """Adagrad (PyTorch ``Adagrad``, lr_decay = 0, initial accumulator 0)::

        g = grad + weight_decay * mask * p
        s += g * g
        p -= lr * g / (sqrt(s) + eps)
    """

    name = "adagrad"
    _buffers = ("sum",)
    state_slots = 1

    def __init__(self, eps: float = 1e-8, weight_decay: float = 0.0,
                 decay_mask: np.ndarray | None = None):
        super().__init__(weight_decay, decay_mask)
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.eps = float(eps)

    def _update(self, p, grads, lr):
        g = self._decayed_grad(p, grads)
        s, t = self.state["sum"], self._scratch()
        np.multiply(g, g, out=t)
        s += t
        np.sqrt(s, out=t)
        t += self.eps
        np.divide(g, t, out=t)
        t *= lr
        p -= t


def get_optimizer(name: str, **kwargs: Any) -> Optimizer:
    """An optimizer by name; kwargs are its constructor's (``betas`` may be a list)."""
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return OPTIMIZERS.create(name, **kwargs)
